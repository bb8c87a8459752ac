DROP TABLE account_policies;

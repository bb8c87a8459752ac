DROP TABLE cmp_transactions;
DROP TABLE cmp_credentials;

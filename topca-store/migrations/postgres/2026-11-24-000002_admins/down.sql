DROP INDEX requests_state;
DROP TABLE admins;

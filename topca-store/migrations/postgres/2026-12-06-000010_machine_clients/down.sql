DROP TABLE machine_clients;

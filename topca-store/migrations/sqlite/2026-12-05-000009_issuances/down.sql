DROP TABLE issuances;

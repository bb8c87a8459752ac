DROP INDEX certificates_not_before;

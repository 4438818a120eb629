"""What the SQL stores share: the row codec and the schema-version check."""

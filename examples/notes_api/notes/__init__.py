"""Notes kept in SQLite: the second example app of the kit."""

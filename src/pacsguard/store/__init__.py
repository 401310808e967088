"""pacsguard.store."""

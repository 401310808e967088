"""pacsguard.integrity."""

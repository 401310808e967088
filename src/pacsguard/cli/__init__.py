"""pacsguard.cli."""

"""pacsguard.demo."""

"""pacsguard: keeps a hospital's medical images and imaging equipment safe."""

__version__ = "0.1.0"

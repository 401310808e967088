"""Naming products alike wherever they are named: vendor names (``vendors``) and version
text (``versions``), as advisories write them and as DICOM images report them.

A foundation package: the inventory (which machine made an image, did its software change?)
and the advisories (which machines does this advisory name?) both build on it, and it imports
neither, so the two compare names and versions by the same rules without importing each other.
"""

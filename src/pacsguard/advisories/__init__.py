"""Security advisories (CSAF 2.0 and simple alerts), matched against the equipment inventory."""

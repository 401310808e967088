"""The integrity gateway: records every image as it arrives, before acknowledging it."""

"""Equipment inventory: machines found in the images, on the network and in the asset register."""

"""napari dock widgets: thin wiring of the core (compare, metrics, scan) to magicgui controls."""

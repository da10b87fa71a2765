"""The Jupyter side of eliza_nb: display, magics, widgets and the kernel's event loop."""

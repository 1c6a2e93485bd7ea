"""Activities: the only code that touches the world. See ``registry``."""

"""The thin runtime: observe -> decide -> store (compare-and-set) -> carry out effects."""

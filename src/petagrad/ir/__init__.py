"""IR layer: the closed set of primitive ops, views, and the lazy graph."""

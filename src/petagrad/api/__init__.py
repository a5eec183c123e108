"""Front end: the NumPy-named API, one module per chapter of the Array API standard."""

"""Reading commune files (xlsx, xls, csv) into rows of cells, and finding their header."""

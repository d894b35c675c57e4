"""Protocol files: parsing, validation and compilation into plans."""

"""A pattern written as a new catalogue module would be. `test_catalogue.py` puts this folder on
`udfs.patterns.catalogue`'s path in a child process, so it is found as the shipped ones are."""

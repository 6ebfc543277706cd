"""`make bench`: Quorum's benchmark (not a test). Each module here measures one
area and returns its figures as a nested dict; __main__ prints them as a table
for people and writes them to var/bench/latest.json for machines."""

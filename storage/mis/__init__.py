"""Reading school MIS exports: headers (profiles and spellings), values (one code each), UPN check
letters, grouped problems and the streaming file reader. `storage.roster` and `storage.staff_file`
build on these; everything here except `reader` is pure."""

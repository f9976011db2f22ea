"""Reading school MIS exports: headers (profiles and spellings), values (one code each), UPN check
letters, grouped problems, the streaming file reader and staff lists. `storage.roster` and
`storage.staff` build on these. All of it is pure except `reader` and `staff_file`, which read
files (and never a database)."""

"""Admin tools over knowledge versions: test questions, answer diffs, directory import/export.

Each module has one job and is wired into ``forumbot`` by :mod:`bot.cli` (and the test
questions into the reload guard of :mod:`bot.reload`):

- :mod:`bot.admin.testrun`: run ``knowledge/tests.yaml`` against an Assistant;
- :mod:`bot.admin.diff`: which answers change between two knowledge folders;
- :mod:`bot.admin.directory`: the doctor directory as plain rows (CSV columns);
- :mod:`bot.admin.fhir`: FHIR R4 Bundles of Practitioner + PractitionerRole, both ways;
- :mod:`bot.admin.importer`: write imported rows into a knowledge folder, all or nothing.
"""

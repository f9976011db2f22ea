"""The ground floor: settings and their frozen slices, the neutral message types, the platform
facts and the school calendar. Imports nothing of Waymark's own; every other package may use it."""

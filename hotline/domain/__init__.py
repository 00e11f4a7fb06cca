"""Domain vocabulary and rules shared by every part: enums, phones, calendar, errors."""

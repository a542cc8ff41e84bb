package enum TS {}

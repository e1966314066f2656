package store

// DecodeCursorForTest and EncodeCursorForTest expose the list cursors to
// this package's external tests.
func DecodeCursorForTest(s string) (int64, error) { return decodeCursor(s) }

func EncodeCursorForTest(id int64) string { return encodeCursor(id) }

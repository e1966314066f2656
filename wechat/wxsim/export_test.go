package wxsim

// EncryptWithRandom exposes the deterministic encryption for tests.
var EncryptWithRandom = encryptWithRandom

// TrimInts exposes the record trimming for tests.
func TrimInts(records []int) []int { return trim(records) }

// MaxRecords is the record bound.
const MaxRecords = maxRecords

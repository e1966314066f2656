package cases

// DailyAnchor is the anchor job's work, for the tests.
var DailyAnchor = (*Service).dailyAnchor

package api

import "github.com/gin-gonic/gin"

// DecodeForTest exposes decode to external tests.
func DecodeForTest[T validator](c *gin.Context) (T, error) { return decode[T](c) }

// DeviceIDForTest exposes deviceID to external tests.
func DeviceIDForTest(h string) string { return deviceID(h) }

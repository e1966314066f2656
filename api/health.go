package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

func (s *server) handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

// handleReadyz answers 200 when the database and Redis answer within a
// second, else 503 naming what failed (never the error text: it can carry
// addresses).
func (s *server) handleReadyz() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
		defer cancel()
		failed := map[string]string{}
		if s.DB == nil {
			failed["database"] = "未配置"
		} else if err := s.DB.Ping(ctx); err != nil {
			failed["database"] = "无法连接"
			s.log.WarnContext(ctx, "readyz: database", "err", err)
		}
		if s.Redis == nil {
			failed["redis"] = "未配置"
		} else if err := s.Redis.Ping(ctx).Err(); err != nil {
			failed["redis"] = "无法连接"
			s.log.WarnContext(ctx, "readyz: redis", "err", err)
		}
		if len(failed) > 0 {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "failed": failed,
				"error": errorDetail{Code: "unavailable", Message: "服务暂时不可用", Fields: failed}})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

func wrapHandler(h http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) }
}

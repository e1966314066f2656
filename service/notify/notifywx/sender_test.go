package notifywx_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/util"

	"wanjia/model"
	"wanjia/service/notify/notifywx"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		code      int
		retry     bool
		noConsent bool
	}{
		{"43101", fmt.Errorf("template msg send error : errcode=43101 , errmsg=user refuse to accept the msg"), 43101, false, true},
		{"45009", &util.CommonError{ErrCode: 45009, ErrMsg: "reach max api daily quota limit"}, 45009, true, false},
		{"-1", fmt.Errorf("errcode=-1 , errmsg=system error"), -1, true, false},
		{"network", errors.New("dial tcp 1.2.3.4:443: i/o timeout"), 0, true, false},
		{"bad openid", fmt.Errorf("errcode=40003 , errmsg=invalid openid"), 40003, false, false},
		{"bad data", fmt.Errorf("errcode=47003 , errmsg=argument invalid"), 47003, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			se := notifywx.Classify("subscribe/send", tt.err)
			if se.Errcode != tt.code || se.Retry != tt.retry || se.NoConsent != tt.noConsent {
				t.Errorf("Classify(%v) = code %d retry %v no-consent %v, want %d %v %v", tt.err, se.Errcode, se.Retry,
					se.NoConsent, tt.code, tt.retry, tt.noConsent)
			}
			if tt.noConsent && !errors.Is(se, model.ErrConflict) {
				t.Errorf("Classify(43101) = %v, want it to unwrap to ErrConflict", se)
			}
		})
	}
	se := notifywx.Classify("template/send", errors.New("Post https://api.weixin.qq.com/x?access_token=SECRETTOKEN: EOF"))
	if strings.Contains(se.Error(), "SECRETTOKEN") {
		t.Errorf("Classify() = %q, keeps the access token", se.Error())
	}
}

package models

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

func loadCW(jsonData string, secure map[string]string) (*Settings, error) {
	return Load(backend.DataSourceInstanceSettings{JSONData: []byte(jsonData), DecryptedSecureJSONData: secure})
}

func TestLoadCloudWatch(t *testing.T) {
	s, err := loadCW(`{"source":"cloudwatch","cloudwatch":{"authType":"keys","defaultRegion":"eu-west-1","clusterName":"prod",
		"logGroups":["/aws/eks/prod/cluster","/custom/audit",""]}}`, map[string]string{"accessKey": "AKID", "secretKey": "s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	cw := s.CloudWatch
	if got := strings.Join(cw.LogGroupNames, ","); got != "/aws/eks/prod/cluster,/custom/audit" {
		t.Errorf("log groups %s", got)
	}
	if cw.StreamPrefix != DefaultCloudWatchStreamPrefix || cw.MaxConcurrentInsights != DefaultCloudWatchMaxInsights ||
		cw.RequestsPerSecond != 5 || cw.InsightsThreshold != time.Hour {
		t.Errorf("defaults %+v", cw)
	}
	if s.Secrets.CloudWatch.AccessKey != "AKID" || s.Secrets.CloudWatch.SecretKey != "s3cr3t" {
		t.Errorf("secrets not read")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, s.Secrets); strings.Contains(out, "s3cr3t") {
			t.Errorf("%s prints the secret: %s", f, out)
		}
	}
	s, err = loadCW(`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"c","insightsAfter":"30m","authType":"credentials"}}`, nil)
	if err != nil || s.CloudWatch.InsightsThreshold != 30*time.Minute || s.CloudWatch.Profile != "default" {
		t.Errorf("%+v %v", s, err)
	}
	s, err = loadCW(`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"c"}}`, nil)
	if err != nil || s.CloudWatch.AuthType != AuthDefault {
		t.Errorf("default auth: %+v %v", s, err)
	}
}

func TestLoadCloudWatchErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"source":"cloudwatch"}`, "no CloudWatch settings"},
		{`{"source":"cloudwatch","cloudwatch":{"clusterName":"c"}}`, "no AWS region"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"Frankfurt","clusterName":"c"}}`, "not a region name"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1"}}`, "no log group"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"bad name"}}`, "not an EKS cluster name"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","logGroups":["bad group!"]}}`, "log group name"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"c","authType":"keys"}}`, "access key ID and a secret"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"c","authType":"sso"}}`, "unknown AWS authentication type"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"c","endpoint":"logs.local"}}`, "not an http(s) URL"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"c","externalId":"x"}}`, "assume role ARN"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"c","maxConcurrentInsights":31}}`, "maxConcurrentInsights"},
		{`{"source":"cloudwatch","cloudwatch":{"defaultRegion":"us-east-1","clusterName":"c","insightsAfter":"soon"}}`, "insightsAfter"},
	} {
		_, err := loadCW(tc.json, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.json, err, tc.want)
		}
	}
}

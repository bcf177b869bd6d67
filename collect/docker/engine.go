package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/moby/client"
	"google.golang.org/grpc/codes"

	"github.com/buildstats/buildstats/collect"
)

// ErrNoHistoryAPI says the Docker Engine's BuildKit has no build history
// API (engines before BuildKit v0.11 was embedded).
var ErrNoHistoryAPI = errors.New("the Docker Engine's BuildKit has no build history API")

// EngineBuildKit returns a BuildKit client for the Docker Engine at host
// (empty: $DOCKER_HOST) over the Engine API's /grpc and /session
// endpoints, as buildx's docker driver reaches it, and the engine's name
// and version for messages. With needHistory it checks that the engine's
// BuildKit has the build history API, and says which engine version does
// not (wrapping ErrNoHistoryAPI).
func EngineBuildKit(ctx context.Context, host string, needHistory bool) (*bkclient.Client, string, error) {
	dc, err := Connect(ctx, host)
	if err != nil {
		return nil, "", err
	}
	v, err := dc.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		dc.Close()
		return nil, "", fmt.Errorf("%w: Docker at %s: %v", collect.ErrDaemonUnavailable, describeHost(host), err)
	}
	name := fmt.Sprintf("Docker Engine %s (API %s) at %s", v.Version, v.APIVersion, describeHost(host))
	c, err := bkclient.New(ctx, "",
		bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return dc.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return dc.DialHijack(ctx, "/session", proto, meta)
		}))
	if err != nil {
		dc.Close()
		return nil, name, fmt.Errorf("%w: BuildKit of %s: %v", collect.ErrDaemonUnavailable, name, err)
	}
	if needHistory {
		if err := probeHistory(ctx, c); err != nil {
			c.Close()
			dc.Close()
			if grpcerrors.Code(err) == codes.Unimplemented {
				return nil, name, fmt.Errorf("%w: %s embeds a BuildKit older than the history API (BuildKit v0.11)", ErrNoHistoryAPI, name)
			}
			return nil, name, fmt.Errorf("%w: BuildKit of %s: %v", collect.ErrDaemonUnavailable, name, err)
		}
	}
	// The Engine API client lives as long as the BuildKit client that
	// dials through it.
	go func() { <-ctx.Done(); dc.Close() }()
	return c, name, nil
}

// probeHistory asks for the history without waiting for builds.
func probeHistory(ctx context.Context, c *bkclient.Client) error {
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true})
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

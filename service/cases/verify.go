package cases

import (
	"context"
	"fmt"
	"time"

	"wanjia/model"
)

// VerifyResult is the check of one case's event chain.
type VerifyResult struct {
	CaseNo  string
	Events  int
	Head    string // the hash of the last event
	Problem *model.ChainProblem
}

// Verify checks the event chain of a case in scope: every seq present,
// every body digest and hash, the head and the status (see
// model.VerifyChain).
func (s *Service) Verify(ctx context.Context, no string) (VerifyResult, error) {
	p, err := requireCaseworker(ctx)
	if err != nil {
		return VerifyResult{}, err
	}
	c, err := s.staffCase(ctx, p, no)
	if err != nil {
		return VerifyResult{}, err
	}
	return s.verify(ctx, c)
}

func (s *Service) verify(ctx context.Context, c model.Case) (VerifyResult, error) {
	evs, err := s.store.Events(ctx, c.ID)
	if err != nil {
		return VerifyResult{}, err
	}
	return VerifyResult{CaseNo: c.CaseNo, Events: len(evs), Head: c.LastHash, Problem: model.VerifyChain(c, evs)}, nil
}

// VerifyAllResult is the check of every case's chain.
type VerifyAllResult struct {
	Cases    int
	Events   int
	Problems []model.ChainProblem // the first maxProblems
	Elapsed  time.Duration
}

const maxProblems = 100

// VerifyAll checks the chain of every case (admins): the whole log.
func (s *Service) VerifyAll(ctx context.Context) (VerifyAllResult, error) {
	if _, err := requireAdmin(ctx); err != nil {
		return VerifyAllResult{}, err
	}
	start := time.Now()
	res := VerifyAllResult{Problems: []model.ChainProblem{}}
	for after := int64(0); ; {
		ids, err := s.store.CaseIDs(ctx, after, 500)
		if err != nil {
			return res, fmt.Errorf("verify all: %w", err)
		}
		for _, id := range ids {
			after = id
			c, err := s.store.ByID(ctx, id)
			if err != nil {
				return res, fmt.Errorf("verify all: %w", err)
			}
			r, err := s.verify(ctx, c)
			if err != nil {
				return res, fmt.Errorf("verify all: %w", err)
			}
			res.Cases++
			res.Events += r.Events
			if r.Problem != nil && len(res.Problems) < maxProblems {
				res.Problems = append(res.Problems, *r.Problem)
			}
		}
		if len(ids) < 500 {
			break
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(start)
	if len(res.Problems) > 0 {
		s.log.ErrorContext(ctx, "case event log does not verify", "problems", len(res.Problems))
	}
	return res, nil
}

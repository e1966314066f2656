package articles

import (
	"context"
	"fmt"
	"strings"

	"wanjia/model"
)

// ColumnInput is a column's name (1–64 characters) and description (≤ 512).
type ColumnInput struct {
	Name        string
	Description string
}

// Valid reports field problems (Chinese).
func (in ColumnInput) Valid() map[string]string {
	bad := map[string]string{}
	if !runes(strings.TrimSpace(in.Name), 1, 64) {
		bad["name"] = "须为 1–64 个字"
	}
	if !runes(in.Description, 0, 512) {
		bad["description"] = "不超过 512 个字"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// CreateColumn creates a column such as 巧媳妇·富全家 (editor; audited).
func (s *Service) CreateColumn(ctx context.Context, in ColumnInput) (model.Column, error) {
	p, err := requireEditor(ctx)
	if err != nil {
		return model.Column{}, err
	}
	if err := model.Invalid(in.Valid()); err != nil {
		return model.Column{}, err
	}
	c, err := s.store.CreateColumn(ctx, model.Column{Name: strings.TrimSpace(in.Name), Description: strings.TrimSpace(in.Description),
		CreatedBy: p.SubjectID})
	if err != nil {
		return model.Column{}, fmt.Errorf("create column: %w", err)
	}
	s.recordType(ctx, "column.create", "column", c.ID, nil, map[string]any{"name": c.Name})
	return c, nil
}

// UpdateColumn renames or re-describes a column (editor; audited).
func (s *Service) UpdateColumn(ctx context.Context, id int64, in ColumnInput) (model.Column, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Column{}, err
	}
	if err := model.Invalid(in.Valid()); err != nil {
		return model.Column{}, err
	}
	before, err := s.store.ColumnByID(ctx, id)
	if err != nil {
		return model.Column{}, err
	}
	c, err := s.store.UpdateColumn(ctx, model.Column{ID: id, Name: strings.TrimSpace(in.Name), Description: strings.TrimSpace(in.Description)})
	if err != nil {
		return model.Column{}, err
	}
	s.recordType(ctx, "column.update", "column", id, map[string]any{"name": before.Name, "description": before.Description},
		map[string]any{"name": c.Name, "description": c.Description})
	return c, nil
}

// DeleteColumn deletes an empty column (editor; audited); one that holds
// articles is 409 column_not_empty.
func (s *Service) DeleteColumn(ctx context.Context, id int64) error {
	if _, err := requireEditor(ctx); err != nil {
		return err
	}
	before, err := s.store.ColumnByID(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteColumn(ctx, id); err != nil {
		return err
	}
	s.recordType(ctx, "column.delete", "column", id, map[string]any{"name": before.Name}, nil)
	return nil
}

// Column returns a column with its totals (editor).
func (s *Service) Column(ctx context.Context, id int64) (model.Column, error) {
	if _, err := requireEditor(ctx); err != nil {
		return model.Column{}, err
	}
	return s.store.ColumnByID(ctx, id)
}

// Columns lists the columns with their totals (editor).
func (s *Service) Columns(ctx context.Context) ([]model.Column, error) {
	if _, err := requireEditor(ctx); err != nil {
		return nil, err
	}
	return s.store.ListColumns(ctx)
}

import React, { useState } from 'react';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { DataSource } from '../../datasource';
import { AuditVariableQuery } from '../../types';
import { VariableQueryEditor } from './VariableQueryEditor';

function Harness({ initial, changes }: { initial: AuditVariableQuery; changes: AuditVariableQuery[] }) {
  const [query, setQuery] = useState(initial);
  return (
    <VariableQueryEditor
      datasource={{} as DataSource}
      query={query}
      onChange={(q) => {
        changes.push(q);
        setQuery(q);
      }}
      onRunQuery={() => {}}
    />
  );
}

describe('VariableQueryEditor', () => {
  it('shows the dimension and writes the limit and filters', async () => {
    const changes: AuditVariableQuery[] = [];
    const user = userEvent.setup({ delay: null });
    render(<Harness initial={{ refId: 'v', dim: 'objectRef.namespace' }} changes={changes} />);
    expect(screen.getByDisplayValue('Namespace')).toBeInTheDocument();

    await user.type(screen.getByLabelText(/^Limit/), '50');
    await user.type(screen.getByLabelText(/^Users/), '$user, !system:*');
    expect(changes[changes.length - 1]).toEqual({
      refId: 'v',
      dim: 'objectRef.namespace',
      limit: 50,
      filter: { users: ['$user', '!system:*'] },
    });
  });
});

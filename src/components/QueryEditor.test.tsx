import React, { useState } from 'react';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { DataSource } from '../datasource';
import { AuditQuery } from '../types';
import { parseQuantiles, QueryEditor } from './QueryEditor';

/** Holds the query in state the way Grafana does, and records every change. */
function Harness({ initial, changes, onRun }: { initial: AuditQuery; changes: AuditQuery[]; onRun: () => void }) {
  const [query, setQuery] = useState(initial);
  return (
    <QueryEditor
      datasource={{} as DataSource}
      query={query}
      onChange={(q) => {
        changes.push(q);
        setQuery(q);
      }}
      onRunQuery={onRun}
    />
  );
}

function setup(initial: AuditQuery = { refId: 'A', queryType: 'timeseries' }) {
  const changes: AuditQuery[] = [];
  const onRun = jest.fn();
  // No delay between keystrokes: the editor re-renders on each one.
  const user = userEvent.setup({ delay: null });
  render(<Harness initial={initial} changes={changes} onRun={onRun} />);
  const last = () => changes[changes.length - 1];
  return { user, changes, onRun, last };
}

describe('QueryEditor', () => {
  it('writes the common filter fields as lists', async () => {
    const { user, last } = setup();
    await user.type(screen.getByLabelText(/^Verbs/), 'get, list,');
    await user.type(screen.getByLabelText(/^Users/), '!system:node:*');
    await user.type(screen.getByLabelText(/^Codes/), '403,5xx');
    await user.type(screen.getByLabelText(/^Search/), 'kubectl');
    expect(last().filter).toEqual({
      verbs: ['get', 'list'],
      users: ['!system:node:*'],
      codes: ['403', '5xx'],
      search: 'kubectl',
    });
    // The half-typed trailing comma stays in the input.
    expect(screen.getByLabelText(/^Verbs/)).toHaveValue('get, list,');
  });

  it('keeps everything typed when switching query types', async () => {
    const { user, last, onRun } = setup({ refId: 'A', queryType: 'latency', groupBy: ['verb'] });

    // Pasting is one change event per field: typing character by character is covered above.
    const paste = async (label: RegExp, text: string) => {
      await user.click(screen.getByLabelText(label));
      await user.paste(text);
    };
    await paste(/^Verbs/, 'get, list');
    await paste(/^Namespaces/, 'kube-*');
    await paste(/^Quantiles/, '0.5, p99');
    await paste(/^Limit/, '7');
    expect(last().quantiles).toEqual([0.5, 0.99]);

    const before = last();
    await user.click(screen.getByRole('radio', { name: 'Events' }));
    expect(last()).toEqual({ ...before, queryType: 'events' });
    expect(onRun).toHaveBeenCalled();

    // Fields of the events type show, the latency-only ones are hidden but kept.
    expect(screen.queryByLabelText(/^Quantiles/)).not.toBeInTheDocument();
    expect(screen.getByLabelText(/^Verbs/)).toHaveValue('get, list');
    expect(screen.getByLabelText(/^Limit/)).toHaveValue(7);

    await user.click(screen.getByRole('radio', { name: 'Matrix' }));
    await user.click(screen.getByRole('radio', { name: 'Latency' }));
    expect(last()).toEqual({ ...before, queryType: 'latency' });
    expect(last().groupBy).toEqual(['verb']);
    // The quantiles field was unmounted while hidden: it shows the kept value, normalised.
    expect(screen.getByLabelText(/^Quantiles/)).toHaveValue('0.5, 0.99');
    expect(screen.getByLabelText(/^Namespaces/)).toHaveValue('kube-*');
  });

  it('shows a description of the selected query type', async () => {
    const { user } = setup();
    const description = () => screen.getByTestId('query-type-description');
    expect(description()).toHaveTextContent(/^Request count or rate over time/);
    await user.click(screen.getByRole('radio', { name: 'Denied' }));
    expect(description()).toHaveTextContent(/^Every 401\/403 request/);
  });

  it('sets the format of events and latency queries', async () => {
    const { user, last } = setup({ refId: 'A', queryType: 'events' });
    await user.click(screen.getByRole('radio', { name: 'Table' }));
    expect(last().format).toBe('table');

    await user.click(screen.getByRole('radio', { name: 'Latency' }));
    // 'table' is not a latency format: the picker shows the latency default, the query is untouched.
    expect(screen.getByRole('radio', { name: 'Percentiles' })).toBeChecked();
    await user.click(screen.getByRole('radio', { name: 'Heatmap' }));
    expect(last().format).toBe('heatmap');
    expect(screen.queryByLabelText(/^Quantiles/)).not.toBeInTheDocument();
  });

  it('clears a list when its text is emptied', async () => {
    const { user, last } = setup({ refId: 'A', filter: { resources: ['pods'] } });
    expect(screen.getByLabelText(/^Resources/)).toHaveValue('pods');
    await user.clear(screen.getByLabelText(/^Resources/));
    expect(last().filter?.resources).toBeUndefined();
  });
});

describe('parseQuantiles', () => {
  it('accepts fractions, percentages and p-notation like the backend', () => {
    expect(parseQuantiles('0.5, 90, p99, p99.9')).toEqual([0.5, 0.9, 0.99, 0.9990000000000001]);
  });
  it('skips entries that are not quantiles', () => {
    expect(parseQuantiles('0.5, abc, 0, , 150, 0.9x')).toEqual([0.5]);
  });
});

describe('QueryEditor for detections', () => {
  it('edits the rules and severities of a detections query', async () => {
    const { user, last } = setup({ refId: 'A', queryType: 'detections' });
    await user.click(screen.getByLabelText(/^Rules/));
    await user.paste('exec-*, binding-privileged');
    await user.click(screen.getByLabelText(/^Severities/));
    await user.paste('high, critical');
    expect(last()).toMatchObject({
      queryType: 'detections',
      rules: ['exec-*', 'binding-privileged'],
      severities: ['high', 'critical'],
    });
  });
});

import React, { useState } from 'react';
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { dateTime, TimeRange } from '@grafana/data';

import { DataSource } from '../datasource';
import { AuditQuery, DimensionValue } from '../types';
import { parseQuantiles, QueryEditor } from './QueryEditor';
import { FALLBACK_SCHEMA, QuerySchema } from './editor/schema';
import { pickOption, pills, setupComboboxEnvironment, typeValue } from './editor/testUtils';

// A way to make the editor's render throw, to check the error boundary.
jest.mock('./editor/summarize', () => {
  const actual = jest.requireActual('./editor/summarize');
  return {
    summarize: (q: AuditQuery, ...rest: unknown[]) => {
      if (q.refId === 'BOOM') {
        throw new Error('boom');
      }
      return actual.summarize(q, ...rest);
    },
  };
});

setupComboboxEnvironment();

const RANGE: TimeRange = {
  from: dateTime(1_700_000_000_000),
  to: dateTime(1_700_003_600_000),
  raw: { from: 'now-1h', to: 'now' },
};

const VALUES: Record<string, DimensionValue[]> = {
  verb: [
    { value: 'get', count: 1234 },
    { value: 'list', count: 56 },
    { value: 'watch', count: 7 },
  ],
  'user.username': [
    { value: 'alice', count: 42 },
    { value: 'system:node:n1', count: 9 },
  ],
  decision: [
    { value: 'allow', count: 100 },
    { value: '', count: 3 },
  ],
};

function mockDataSource(overrides: Partial<Record<'getDimensions' | 'getValues' | 'getSchema', jest.Mock>> = {}) {
  return {
    getDimensions: jest.fn().mockResolvedValue([
      { name: 'verb', label: 'Verb' },
      { name: 'user.username', label: 'User' },
      { name: 'objectRef.resource', label: 'Resource' },
    ]),
    getValues: jest.fn((dim: string) => Promise.resolve(VALUES[dim] ?? [])),
    ...overrides,
  };
}

/** Holds the query in state the way Grafana does, and records every change. */
function Harness({
  initial,
  changes,
  onRun,
  datasource,
}: {
  initial: AuditQuery;
  changes: AuditQuery[];
  onRun: () => void;
  datasource: ReturnType<typeof mockDataSource>;
}) {
  const [query, setQuery] = useState(initial);
  return (
    <QueryEditor
      datasource={datasource as unknown as DataSource}
      query={query}
      range={RANGE}
      onChange={(q) => {
        changes.push(q);
        setQuery(q);
      }}
      onRunQuery={onRun}
    />
  );
}

/** Lets the dimensions the editor fetched on mount arrive. */
const settle = () => act(() => Promise.resolve());

function setup(initial: AuditQuery = { refId: 'A', queryType: 'timeseries' }, datasource = mockDataSource()) {
  const changes: AuditQuery[] = [];
  const onRun = jest.fn();
  // No delay between keystrokes: the editor re-renders on each one.
  const user = userEvent.setup({ delay: null });
  render(<Harness initial={initial} changes={changes} onRun={onRun} datasource={datasource} />);
  const last = () => changes[changes.length - 1];
  return { user, changes, onRun, last, datasource };
}

const summary = () => screen.getByTestId('query-summary');

describe('QueryEditor filters', () => {
  it('writes the filter pickers and the search as a filter', async () => {
    const { user, last } = setup();
    await typeValue(user, /^Verbs/, 'get, list');
    await typeValue(user, /^Users/, '!system:node:*');
    await typeValue(user, /^Codes/, '403');
    await pickOption(user, /^Codes/, /^5xx/);
    await user.click(document.body);
    await user.type(screen.getByLabelText(/^Search/), 'kubectl');
    expect(last().filter).toEqual({
      verbs: ['get', 'list'],
      users: ['!system:node:*'],
      codes: ['403', '5xx'],
      search: 'kubectl',
    });
    expect(summary()).toHaveTextContent(
      'Request count of get or list requests where user does not match system:node:* and code is 403 or 5xx and the line contains "kubectl"'
    );
  });

  it('loads the values of a picker when it opens, for the current time range, with counts', async () => {
    const { user, last, datasource } = setup();
    await waitFor(() => expect(datasource.getDimensions).toHaveBeenCalled());
    expect(datasource.getValues).not.toHaveBeenCalled();

    await user.click(screen.getByLabelText(/^Users/));
    const alice = await screen.findByRole('option', { name: /^alice/ });
    expect(alice).toHaveTextContent('42 requests');
    expect(datasource.getValues).toHaveBeenCalledTimes(1);
    expect(datasource.getValues).toHaveBeenCalledWith('user.username', RANGE);
    await user.click(alice);
    expect(last().filter?.users).toEqual(['alice']);

    // Typing ! offers the values as exclusions.
    await user.keyboard('!sys');
    await user.click(await screen.findByRole('option', { name: /^!system:node:n1/ }));
    expect(last().filter?.users).toEqual(['alice', '!system:node:n1']);
    await user.click(document.body);

    // Values are fetched once per dimension and range.
    await user.click(screen.getByLabelText(/^Users/));
    await screen.findByRole('option', { name: /^alice/ });
    expect(datasource.getValues).toHaveBeenCalledTimes(1);
  });

  it('offers the fixed vocabularies and the filters behind "More filters"', async () => {
    const { user, last } = setup();
    expect(screen.queryByLabelText(/^Decisions/)).not.toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: /More filters/ }));
    await user.click(screen.getByLabelText(/^Decisions/));
    // The backend's empty decision is offered as "none", which the filter understands.
    expect(await screen.findByRole('option', { name: /^none/ })).toHaveTextContent('3 requests');
    await user.click(screen.getByRole('option', { name: /^forbid/ }));
    await user.click(document.body);
    await pickOption(user, /^Stages/, /^ResponseStarted/);
    await user.click(document.body);
    expect(last().filter).toEqual({ decisions: ['forbid'], stages: ['ResponseStarted'] });

    // Hiding the extra filters keeps those that hold values in view.
    await user.click(screen.getByRole('button', { name: /Fewer filters/ }));
    expect(screen.getByLabelText(/^Decisions/)).toBeInTheDocument();
    expect(screen.queryByLabelText(/^Source IPs/)).not.toBeInTheDocument();
  });

  it('clears a list when its last value is removed', async () => {
    const { user, last } = setup({ refId: 'A', filter: { resources: ['pods'] } });
    expect(await pills(user, /^Resources/)).toEqual(['pods']);
    await user.click(screen.getByLabelText(/^Resources/));
    // Backspace in the empty input removes the last value (with the menu closed).
    await user.keyboard('{Escape}{Backspace}');
    expect(last().filter?.resources).toBeUndefined();
  });

  it('shows hand-written single values rather than failing', async () => {
    setup({ refId: 'A', groupBy: 'verb', filter: { verbs: 'get' } } as unknown as AuditQuery);
    await settle();
    expect(screen.getByTestId('query-summary')).toHaveTextContent('Request count of get requests by verb');
  });
});

describe('QueryEditor', () => {
  it('keeps everything typed when switching query types', async () => {
    const { user, last, onRun } = setup({ refId: 'A', queryType: 'latency', groupBy: ['verb'] });

    const paste = async (label: RegExp, text: string) => {
      await user.click(screen.getByLabelText(label));
      await user.paste(text);
    };
    await typeValue(user, /^Verbs/, 'get, list');
    await typeValue(user, /^Namespaces/, 'kube-*');
    await paste(/^Quantiles/, '0.5, p99');
    await paste(/^Limit/, '7');
    expect(last().quantiles).toEqual([0.5, 0.99]);

    const before = last();
    await user.click(screen.getByRole('radio', { name: 'Events' }));
    expect(last()).toEqual({ ...before, queryType: 'events' });
    expect(onRun).toHaveBeenCalled();

    // Fields of the events type show, the latency-only ones are hidden but kept.
    expect(screen.queryByLabelText(/^Quantiles/)).not.toBeInTheDocument();
    expect(await pills(user, /^Verbs/)).toEqual(['get', 'list']);
    expect(screen.getByLabelText(/^Limit/)).toHaveValue(7);

    await user.click(screen.getByRole('radio', { name: 'Matrix' }));
    await user.click(screen.getByRole('radio', { name: 'Latency' }));
    expect(last()).toEqual({ ...before, queryType: 'latency' });
    expect(last().groupBy).toEqual(['verb']);
    // The quantiles field was unmounted while hidden: it shows the kept value, normalised.
    expect(screen.getByLabelText(/^Quantiles/)).toHaveValue('0.5, 0.99');
    expect(await pills(user, /^Namespaces/)).toEqual(['kube-*']);
    expect(await pills(user, /^Group by/)).toEqual(['Verb']);
  });

  it('shows a description of the selected query type', async () => {
    const { user } = setup();
    const description = () => screen.getByTestId('query-type-description');
    expect(description()).toHaveTextContent(/^Request count or rate over time/);
    await user.click(screen.getByRole('radio', { name: 'Denied' }));
    expect(description()).toHaveTextContent(/^Every 401\/403 request/);
  });

  it('sets the format of events and latency queries, and restores it when switching back', async () => {
    const { user, last, onRun } = setup({ refId: 'A', queryType: 'events' });
    await user.click(screen.getByRole('radio', { name: 'Table' }));
    expect(last().format).toBe('table');

    await user.click(screen.getByRole('radio', { name: 'Latency' }));
    // 'table' is not a latency format (the backend would reject it): the latency default is used.
    expect(last().format).toBeUndefined();
    expect(screen.getByRole('radio', { name: 'Percentiles' })).toBeChecked();
    expect(screen.queryByTestId('query-errors')).not.toBeInTheDocument();
    expect(onRun).toHaveBeenCalledTimes(2);
    await user.click(screen.getByRole('radio', { name: 'Heatmap' }));
    expect(last().format).toBe('heatmap');
    expect(screen.queryByLabelText(/^Quantiles/)).not.toBeInTheDocument();

    // Types without formats keep it; events gets its table back, latency its heatmap.
    await user.click(screen.getByRole('radio', { name: 'Denied' }));
    expect(last().format).toBe('heatmap');
    await user.click(screen.getByRole('radio', { name: 'Events' }));
    expect(last().format).toBe('table');
    await user.click(screen.getByRole('radio', { name: 'Latency' }));
    expect(last().format).toBe('heatmap');
  });

  it('offers the dimensions of the backend to group by', async () => {
    const { user, last, datasource } = setup();
    await waitFor(() => expect(datasource.getDimensions).toHaveBeenCalledTimes(1));
    await user.click(screen.getByLabelText(/^Group by/));
    // Only what the backend listed (the static list has many more).
    await waitFor(() => expect(screen.getAllByRole('option')).toHaveLength(3));
    await user.click(screen.getByRole('option', { name: /^User/ }));
    expect(last().groupBy).toEqual(['user.username']);
    await user.click(document.body);
    expect(summary()).toHaveTextContent('Request count by user');
  });

  it('falls back to the static dimensions when the backend cannot list them', async () => {
    const datasource = mockDataSource({ getDimensions: jest.fn().mockRejectedValue(new Error('down')) });
    const { user } = setup({ refId: 'A' }, datasource);
    await waitFor(() => expect(datasource.getDimensions).toHaveBeenCalled());
    await user.click(screen.getByLabelText(/^Group by/));
    expect(await screen.findByRole('option', { name: /^Impersonated user/ })).toBeInTheDocument();
  });

  it('shows a one-line summary of the query', async () => {
    const { user } = setup({
      refId: 'A',
      queryType: 'latency',
      quantiles: [0.99],
      groupBy: ['user.username'],
      filter: { verbs: ['list', '!watch'], resources: ['pods'] },
    });
    expect(summary()).toHaveTextContent('p99 latency of list pods by user, excluding watch');
    await user.click(screen.getByRole('radio', { name: 'Requests' }));
    expect(summary()).toHaveTextContent('Request count of list pods by user, excluding watch');
  });

  it('stays inside an error boundary', () => {
    jest.spyOn(console, 'error').mockImplementation(() => {});
    setup({ refId: 'BOOM' });
    expect(screen.getByText('The query editor failed')).toBeInTheDocument();
  });
});

describe('QueryEditor for topn', () => {
  it('sorts by the order chosen before the limit, the default left out', async () => {
    const { user, last, onRun } = setup({ refId: 'A', queryType: 'topn', groupBy: ['verb'] });
    const group = screen.getByRole('radiogroup', { name: 'Sort by' });
    const radio = (name: string) => within(group).getByRole('radio', { name });
    expect(radio('Requests')).toBeChecked();
    await user.click(radio('p99'));
    expect(last().sortBy).toBe('p99');
    expect(onRun).toHaveBeenCalled();
    expect(summary()).toHaveTextContent('Top 10 verbs by p99 latency');
    await user.click(radio('Denied'));
    expect(last().sortBy).toBe('denied');
    // The backend's default is not written into the query.
    await user.click(radio('Requests'));
    expect(last().sortBy).toBeUndefined();
  });

  it('takes the orders from the schema (GET /schema)', async () => {
    const schema: QuerySchema = {
      ...FALLBACK_SCHEMA,
      queryTypes: FALLBACK_SCHEMA.queryTypes.map((t) => (t.name === 'topn' ? { ...t, sortBy: ['requests', 'p99'] } : t)),
    };
    setup({ refId: 'A', queryType: 'topn' }, mockDataSource({ getSchema: jest.fn().mockResolvedValue(schema) }));
    const group = await screen.findByRole('radiogroup', { name: 'Sort by' });
    await waitFor(() => expect(within(group).getAllByRole('radio')).toHaveLength(2));
  });
});

describe('QueryEditor validation', () => {
  it('shows what is wrong and does not run the query until it is fixed', async () => {
    const { user, onRun, last } = setup({ refId: 'A', queryType: 'timeseries' });
    await user.click(screen.getByRole('radio', { name: 'Object history' }));
    expect(last().queryType).toBe('objectHistory');
    expect(onRun).not.toHaveBeenCalled();
    expect(screen.getByTestId('query-errors')).toHaveTextContent(/Object history needs the object/);

    // objectHistory shows the names picker without "More filters".
    await typeValue(user, /^Names\b/, 'web-1');
    expect(last().filter?.names).toEqual(['web-1']);
    expect(onRun).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId('query-errors')).not.toBeInTheDocument();
    expect(summary()).toHaveTextContent('History of web-1, oldest first');
  });

  it('blocks runs on blur while a field is invalid', async () => {
    const { user, onRun } = setup({ refId: 'A', queryType: 'events' });
    await user.click(screen.getByLabelText(/^Limit/));
    await user.paste('6000');
    await user.click(document.body);
    expect(screen.getByTestId('query-errors')).toHaveTextContent(
      'Limit 6000 is above the maximum of 5000 for this query type.'
    );
    expect(onRun).not.toHaveBeenCalled();

    await user.clear(screen.getByLabelText(/^Limit/));
    await user.paste('50');
    await user.click(document.body);
    expect(onRun).toHaveBeenCalledTimes(1);
  });

  it('takes limits and formats from the schema (GET /schema)', async () => {
    const schema: QuerySchema = {
      ...FALLBACK_SCHEMA,
      queryTypes: FALLBACK_SCHEMA.queryTypes.map((t) =>
        t.name === 'events'
          ? { ...t, label: 'Audit events', formats: ['table', 'logs'], limits: { ...t.limits, default: 50, max: 2000 } }
          : t
      ),
    };
    const datasource = mockDataSource({ getSchema: jest.fn().mockResolvedValue(schema) });
    const { user, onRun } = setup({ refId: 'A', queryType: 'events' }, datasource);
    await waitFor(() => expect(screen.getByRole('radio', { name: 'Audit events' })).toBeChecked());
    expect(datasource.getSchema).toHaveBeenCalledTimes(1);
    // The schema's default format comes first and is the one shown.
    expect(screen.getByRole('radio', { name: 'Table' })).toBeChecked();
    expect(screen.getByLabelText(/^Limit/)).toHaveAttribute('placeholder', '50');

    await user.click(screen.getByLabelText(/^Limit/));
    await user.paste('3000');
    await user.click(document.body);
    expect(screen.getByTestId('query-errors')).toHaveTextContent(
      'Limit 3000 is above the maximum of 2000 for this query type.'
    );
    expect(onRun).not.toHaveBeenCalled();
  });

  it('uses its own copy of the schema when GET /schema fails', async () => {
    const datasource = mockDataSource({ getSchema: jest.fn().mockRejectedValue(new Error('down')) });
    const { user } = setup({ refId: 'A', queryType: 'events' }, datasource);
    await waitFor(() => expect(datasource.getSchema).toHaveBeenCalled());
    await settle();
    expect(screen.getByRole('radio', { name: 'Logs' })).toBeChecked();
    await user.click(screen.getByLabelText(/^Limit/));
    await user.paste('6000');
    await user.click(document.body);
    expect(screen.getByTestId('query-errors')).toHaveTextContent(
      'Limit 6000 is above the maximum of 5000 for this query type.'
    );
  });

  it('flags invalid codes typed into the codes picker', async () => {
    const { user, onRun, last } = setup();
    await typeValue(user, /^Codes/, '6xx');
    expect(last().filter?.codes).toEqual(['6xx']);
    expect(screen.getByTestId('query-errors')).toHaveTextContent('Invalid code "6xx"');
    expect(onRun).not.toHaveBeenCalled();
  });

  it('flags matrix rows equal to the columns', async () => {
    setup({ refId: 'A', queryType: 'matrix', rows: 'verb', columns: 'verb' });
    await settle();
    expect(screen.getByTestId('query-errors')).toHaveTextContent('Rows and columns must be different dimensions.');
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
    await typeValue(user, /^Rules/, 'exec-*');
    await pickOption(user, /^Rules/, /^binding-privileged/);
    await user.click(document.body);
    await pickOption(user, /^Severities/, /^high/);
    await user.click(screen.getByRole('option', { name: /^critical/ }));
    await user.click(document.body);
    expect(last()).toMatchObject({
      queryType: 'detections',
      rules: ['exec-*', 'binding-privileged'],
      severities: ['high', 'critical'],
    });
    expect(summary()).toHaveTextContent('Findings of rules exec-* and binding-privileged (high, critical)');
  });

  it("edits the query's own allow-lists and burst settings", async () => {
    const { user, last, onRun } = setup({ refId: 'A', queryType: 'detections' });
    await user.type(screen.getByLabelText(/^Allow users/), 'ci-bot, system:serviceaccount:ci:*');
    await user.type(screen.getByLabelText(/^Allow namespaces/), 'debug-*');
    await user.type(screen.getByLabelText(/^Allow networks/), '10.0.0.0/8');
    await user.type(screen.getByLabelText(/^Burst/), '20');
    await user.type(screen.getByLabelText(/^within/), '1m');
    await user.click(document.body);
    expect(last()).toMatchObject({
      queryType: 'detections',
      allow: {
        users: ['ci-bot', 'system:serviceaccount:ci:*'],
        namespaces: ['debug-*'],
        sourceNetworks: ['10.0.0.0/8'],
      },
      burstThreshold: 20,
      burstWindow: '1m',
    });
    expect(onRun).toHaveBeenCalled();
    expect(summary()).toHaveTextContent(
      'Findings of all rules, allow-listing users ci-bot and system:serviceaccount:ci:*; namespace debug-*; source network 10.0.0.0/8'
    );

    // Cleared lists leave no empty allow-list behind.
    for (const label of [/^Allow users/, /^Allow namespaces/, /^Allow networks/]) {
      await user.clear(screen.getByLabelText(label));
    }
    expect(last().allow).toBeUndefined();
  });

  it('groups counts by the finding dimensions only, in the timeseries format', async () => {
    const datasource = mockDataSource({
      getDimensions: jest.fn().mockResolvedValue([
        { name: 'decision', label: 'Decision' },
        { name: 'user.username', label: 'User' },
      ]),
    });
    setup({ refId: 'A', queryType: 'detections' }, datasource);
    await waitFor(() => expect(datasource.getDimensions).toHaveBeenCalled());
    expect(screen.queryByLabelText(/^Group by/)).not.toBeInTheDocument();
    cleanup();

    const { user, last } = setup({ refId: 'A', queryType: 'detections', format: 'timeseries' }, datasource);
    await user.click(screen.getByLabelText(/^Group by/));
    await waitFor(() => expect(screen.getAllByRole('option')).toHaveLength(1));
    await user.click(screen.getByRole('option', { name: /^User/ }));
    expect(last().groupBy).toEqual(['user.username']);
  });

  it('flags allowed source networks that are not CIDRs or IPs, and does not run', async () => {
    const { user, onRun } = setup({ refId: 'A', queryType: 'detections' });
    await user.type(screen.getByLabelText(/^Allow networks/), '10.0.0.0/33');
    await user.click(document.body);
    expect(screen.getByTestId('query-errors')).toHaveTextContent(
      'Allowed source network "10.0.0.0/33" is neither a CIDR (10.0.0.0/8) nor an IP address.'
    );
    expect(onRun).not.toHaveBeenCalled();
  });
});

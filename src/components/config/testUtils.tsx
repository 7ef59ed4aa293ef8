import React, { useState } from 'react';
import { DataSourceSettings } from '@grafana/data';
import { render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { AuditDataSourceOptions, AuditSecureJsonData } from '../../types';
import { ConfigEditor } from '../ConfigEditor';

export type Settings = DataSourceSettings<AuditDataSourceOptions, AuditSecureJsonData>;

/** The settings of a datasource with this jsonData. */
export function settings(jsonData: Partial<AuditDataSourceOptions>): Settings {
  // Cast: leaves out the deprecated `database` field, which this plugin does not use.
  return {
    id: 1,
    uid: 'audit',
    orgId: 1,
    name: 'Kubernetes Audit Logs',
    type: 'k8saudit-auditlogs-datasource',
    typeName: 'Kubernetes Audit Logs',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    jsonData: jsonData as AuditDataSourceOptions,
    secureJsonFields: {},
    readOnly: false,
    withCredentials: false,
  } as Settings;
}

/**
 * Renders the config editor over settings held in state the way Grafana holds them, recording
 * every change.
 */
export function setupConfigEditor(jsonData: Partial<AuditDataSourceOptions>) {
  const changes: Settings[] = [];
  function Harness() {
    const [options, setOptions] = useState(settings(jsonData));
    return (
      <ConfigEditor
        options={options}
        onOptionsChange={(o) => {
          changes.push(o);
          setOptions(o);
        }}
      />
    );
  }
  const user = userEvent.setup();
  render(<Harness />);
  const last = () => changes[changes.length - 1].jsonData;
  const lastSecure = () => changes[changes.length - 1].secureJsonData;
  return { user, changes, last, lastSecure };
}

/**
 * The lab's part of the error table (see drivers/errors.ts for the row shape
 * and daemon/errors.ts for the whole table): one line per code.
 */
import { CodedError, QosBrokerError, row, type CodesOf } from '../drivers/errors.js';

export const LAB_ERRORS = {
  QB_LAB_NEEDS_ROOT: row('LabError', 'PERMISSION_DENIED', 403, 1, 'the lab creates network namespaces: run it as root'),
  QB_LAB_MISSING_BINARY: row('LabError', 'FAILED_PRECONDITION', 500, 1, 'install the Debian package the message names'),
  QB_LAB_COMMAND_FAILED: row('LabError', 'INTERNAL', 500, 1, 'a command of the lab set-up failed: its output is in the message'),
  QB_LAB_EXEC_FAILED: row('LabError', 'INTERNAL', 500, 1, 'the command run in the node exited non-zero: see its output'),
  QB_LAB_DOWN_INCOMPLETE: row('LabError', 'INTERNAL', 500, 1, 'some lab parts were left behind: run lab down again, then remove what the message lists'),
  QB_LAB_ADDRESS_IN_USE: row('LabError', 'FAILED_PRECONDITION', 500, 1, 'another lab or process holds the address or port: take it down first'),
  QB_LAB_NOT_UP: row('LabError', 'FAILED_PRECONDITION', 500, 1, 'run lab up FILE first'),
  QB_LAB_TRAFFIC_FAILED: row('LabError', 'INTERNAL', 500, 1, 'iperf3 between the nodes failed: check routes and policies on the path'),
  QB_LAB_START_TIMEOUT: row('LabError', 'DEADLINE_EXCEEDED', 504, 1, 'a lab daemon did not come up in time: its log is in the message'),
  QB_LAB_START_FAILED: row('LabError', 'INTERNAL', 500, 1, 'a lab daemon exited at start: its log is in the message'),
  QB_LAB_KEYGEN_FAILED: row('LabError', 'INTERNAL', 500, 1, 'ssh-keygen failed: check openssh-client is installed'),
  QB_LAB_FILE_UNREADABLE: row('LabError', 'INVALID_ARGUMENT', 400, 1, 'check the path of the topology file'),
  QB_LAB_TOPOLOGY_INVALID: row('LabTopologyError', 'INVALID_ARGUMENT', 400, 1, 'fix the node or link of the topology file the message names'),
  QB_SCHEMA_INVALID: row('SchemaError', 'INVALID_ARGUMENT', 400, 1, 'the JSON schema itself is malformed: fix it'),
  QB_SCHEMA_UNSUPPORTED: row('SchemaError', 'INVALID_ARGUMENT', 400, 1, 'the schema uses a keyword this validator does not know: avoid it'),
} as const;

type Codes<K extends string> = CodesOf<typeof LAB_ERRORS, K>;

/** A lab operation failed: set-up, a command in a node, traffic. */
export class LabError extends CodedError<Codes<'LabError'>> {}

/** The topology file is unusable; the message names the node/link and what to change. */
export class LabTopologyError extends QosBrokerError {
  declare readonly code: 'QB_LAB_TOPOLOGY_INVALID';
  constructor(file: string, message: string) {
    super('QB_LAB_TOPOLOGY_INVALID', `${file}: ${message}`);
  }
}

/** A JSON schema given to lab/jsonschema.ts is malformed or uses what it does not support. */
export class SchemaError extends CodedError<Codes<'SchemaError'>> {}

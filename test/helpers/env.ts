/**
 * Where the test servers are. scripts/test.sh starts a throwaway MariaDB and PostgreSQL on
 * 127.0.0.1 and exports these variables; the defaults match its ports.
 */
export const MYSQL_PORT = Number(process.env.FERRY_TEST_MYSQL_PORT ?? 33306);
export const PG_PORT = Number(process.env.FERRY_TEST_PG_PORT ?? 35432);
export const HOST = '127.0.0.1';
export const USER = 'ferry';
export const PASSWORD = 'ferry';

export const mysqlOptions = {
  host: HOST,
  port: MYSQL_PORT,
  user: USER,
  password: PASSWORD,
  multipleStatements: true,
  supportBigNumbers: true,
  bigNumberStrings: true,
  dateStrings: true,
  timezone: 'Z',
  jsonStrings: true,
} as const;

export const pgOptions = {
  host: HOST,
  port: PG_PORT,
  user: USER,
  password: PASSWORD,
  database: 'postgres',
} as const;

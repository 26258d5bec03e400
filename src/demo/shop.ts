import mysql from 'mysql2/promise';

/**
 * The sample `shop` database of the demo: customers, products, orders and order items with the
 * common column types, plus a live writer that inserts, updates and deletes while Ferry runs.
 *
 *   node dist/src/demo/shop.js create --port 23306 --rows 20000
 *   node dist/src/demo/shop.js write  --port 23306 --seconds 20 --rate 300
 */

export interface ShopOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export async function createShop(o: ShopOptions, rows: number): Promise<void> {
  const c = await mysql.createConnection({ host: o.host, port: o.port, user: o.user, password: o.password, multipleStatements: true });
  try {
    const db = o.database.replace(/`/g, '``');
    await c.query(`DROP DATABASE IF EXISTS \`${db}\`; CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4; USE \`${db}\`;`);
    await c.query(`
      CREATE TABLE customers (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        email VARCHAR(200) NOT NULL,
        city VARCHAR(60) CHARACTER SET latin1 NULL,
        balance DECIMAL(12,2) NOT NULL DEFAULT 0,
        created_at DATETIME(6) NOT NULL,
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
      );
      CREATE TABLE products (
        sku VARCHAR(32) NOT NULL PRIMARY KEY,
        title VARCHAR(200) NOT NULL,
        price DECIMAL(10,2) NOT NULL,
        weight_kg FLOAT NULL,
        rating DOUBLE NULL,
        status ENUM('active','discontinued','draft') NOT NULL DEFAULT 'active',
        attributes JSON NULL,
        thumbnail BLOB NULL
      );
      CREATE TABLE orders (
        id BIGINT NOT NULL PRIMARY KEY,
        customer_id BIGINT UNSIGNED NOT NULL,
        total DECIMAL(14,2) NOT NULL,
        placed_on DATE NOT NULL,
        placed_at TIMESTAMP(6) NOT NULL,
        note TEXT NULL
      );
      CREATE TABLE order_items (
        order_id BIGINT NOT NULL,
        line SMALLINT UNSIGNED NOT NULL,
        sku VARCHAR(32) NOT NULL,
        qty INT NOT NULL,
        unit_price DECIMAL(10,2) NOT NULL,
        PRIMARY KEY (order_id, line)
      );`);
    // MariaDB's SEQUENCE engine (seq_1_to_N) generates the rows server-side.
    await c.query(`
      INSERT INTO customers (name, email, city, balance, created_at)
        SELECT CONCAT('Customer ', seq), CONCAT('c', seq, '@example.com'),
               ELT(1 + seq % 5, 'Zürich', 'São Paulo', 'Kraków', 'Oslo', 'Montréal'),
               (seq % 10000) / 7, TIMESTAMP('2024-01-01') + INTERVAL seq SECOND + INTERVAL (seq % 1000000) MICROSECOND
        FROM seq_1_to_${Math.max(1, Math.floor(rows / 4))};
      INSERT INTO products (sku, title, price, weight_kg, rating, status, attributes, thumbnail)
        SELECT CONCAT('SKU-', LPAD(seq, 6, '0')), CONCAT('Product ', seq, ' ☕'), 1 + (seq % 500) + 0.99,
               seq / 3.0, seq / 7.0, ELT(1 + seq % 3, 'active', 'discontinued', 'draft'),
               JSON_OBJECT('color', ELT(1 + seq % 3, 'red', 'green', 'blue'), 'size', seq % 50, 'big', 9007199254740993),
               UNHEX(SHA2(seq, 256))
        FROM seq_1_to_${Math.max(1, Math.floor(rows / 8))};
      INSERT INTO orders (id, customer_id, total, placed_on, placed_at, note)
        SELECT seq, 1 + seq % ${Math.max(1, Math.floor(rows / 4))}, (seq % 9000) / 3, DATE('2024-01-01') + INTERVAL (seq % 600) DAY,
               TIMESTAMP('2024-01-01 12:00:00') + INTERVAL seq SECOND, IF(seq % 3 = 0, NULL, CONCAT('note ', seq))
        FROM seq_1_to_${Math.max(1, Math.floor(rows / 4))};
      INSERT INTO order_items (order_id, line, sku, qty, unit_price)
        SELECT 1 + (seq DIV 2) % ${Math.max(1, Math.floor(rows / 4))}, 1 + seq % 2 + 2 * (seq DIV ${Math.max(2, Math.floor(rows / 2))}),
               CONCAT('SKU-', LPAD(1 + seq % ${Math.max(1, Math.floor(rows / 8))}, 6, '0')), 1 + seq % 5, 9.99
        FROM seq_0_to_${Math.max(1, Math.floor(rows * 3 / 8)) - 1};`);
  } finally {
    await c.end();
  }
}

/** Random inserts, updates and deletes at about `rate` changes per second until the signal aborts. */
export async function runLiveWrites(o: ShopOptions, rate: number, signal: AbortSignal, onTick?: (n: number) => void): Promise<number> {
  const c = await mysql.createConnection({ host: o.host, port: o.port, user: o.user, password: o.password, database: o.database });
  let n = 0;
  let nextOrder = 10_000_000 + Math.floor(Math.random() * 1_000_000);
  try {
    const [[maxRow]] = (await c.query('SELECT COALESCE(MAX(id),0) AS m FROM customers')) as unknown as [[{ m: number | string }]];
    const customers = Number(maxRow.m);
    const perTx = 5;
    const intervalMs = Math.max(5, (1000 * perTx) / Math.max(1, rate));
    while (!signal.aborted) {
      const started = Date.now();
      await c.beginTransaction();
      for (let i = 0; i < perTx; i++) {
        const r = Math.random();
        const cust = 1 + Math.floor(Math.random() * Math.max(1, customers));
        if (r < 0.4) {
          const id = nextOrder++;
          await c.execute('INSERT INTO orders (id, customer_id, total, placed_on, placed_at, note) VALUES (?, ?, ?, CURRENT_DATE, NOW(6), ?)', [id, cust, (Math.random() * 500).toFixed(2), `live ${id}`]);
          await c.execute('INSERT INTO order_items (order_id, line, sku, qty, unit_price) VALUES (?, 1, ?, ?, ?)', [id, 'SKU-000001', 1 + (id % 4), '4.50']);
        } else if (r < 0.85) {
          await c.execute('UPDATE customers SET balance = balance + ?, city = ? WHERE id = ?', [(Math.random() * 10).toFixed(2), Math.random() < 0.5 ? 'Genève' : 'Ålesund', cust]);
        } else {
          await c.execute('DELETE FROM order_items WHERE order_id = (SELECT id FROM orders WHERE customer_id = ? ORDER BY id LIMIT 1)', [cust]);
          await c.execute('DELETE FROM orders WHERE customer_id = ? ORDER BY id LIMIT 1', [cust]);
        }
        n++;
      }
      await c.commit();
      onTick?.(n);
      const wait = intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } finally {
    await c.end();
  }
  return n;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const o: ShopOptions = {
    host: arg('host', '127.0.0.1'),
    port: Number(arg('port', '23306')),
    user: arg('user', 'ferry'),
    password: process.env.DEMO_PASSWORD ?? 'ferry',
    database: arg('database', 'shop'),
  };
  const cmd = process.argv[2];
  if (cmd === 'create') {
    await createShop(o, Number(arg('rows', '20000')));
  } else if (cmd === 'write') {
    const ctl = new AbortController();
    const seconds = Number(arg('seconds', '0'));
    if (seconds > 0) setTimeout(() => ctl.abort(), seconds * 1000);
    process.on('SIGTERM', () => ctl.abort());
    process.on('SIGINT', () => ctl.abort());
    const n = await runLiveWrites(o, Number(arg('rate', '200')), ctl.signal);
    process.stdout.write(`live writer: ${n} changes\n`);
  } else {
    process.stderr.write('usage: shop.js create|write [--port N] [--rows N] [--seconds N] [--rate N]\n');
    process.exit(2);
  }
}

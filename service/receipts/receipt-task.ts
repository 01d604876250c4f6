/** The receipt signer as a WorkerPool task: runs in a worker thread (RECEIPTS=pool). */
import { signReceipt, type Receipt, type ReceiptInput } from './receipt.js';

export default function signReceiptTask(input: ReceiptInput): Receipt {
  return signReceipt(input);
}

import { Type } from 'typebox';
import { UserSummary } from '../accounts/accounts.schemas.ts';

export const Message = Type.Object({
  id: Type.String({ format: 'uuid' }),
  conversation_id: Type.String({ format: 'uuid' }),
  sender: UserSummary,
  text: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
});

export const Conversation = Type.Object({
  id: Type.String({ format: 'uuid' }),
  with: UserSummary,
  last_message: Type.Union([Message, Type.Null()]),
  unread_count: Type.Integer({ description: "Messages from the other side you haven't read." }),
  created_at: Type.String({ format: 'date-time' }),
});

export const ConversationParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

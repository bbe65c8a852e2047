import { Type } from 'typebox';

export const StreamQuery = Type.Object({
  since: Type.Optional(
    Type.Integer({ minimum: 0, description: 'The last `seq` you received: resume after it.' }),
  ),
  access_token: Type.Optional(
    Type.String({ description: 'The access token, for clients that cannot send headers.' }),
  ),
});
